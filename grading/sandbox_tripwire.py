"""Installed INSIDE the grading sandbox as `_grading_tripwire` (see grading/sandbox.py).

Inside the sandbox the course library's layer implementations (cs231n_lib.fast_layers and every
module built on them) and other libraries' ready-made convolution / pooling / normalisation
(torch, scipy.signal, scipy.ndimage, ...) are not present: their files are not in the sandbox.
This module serves stand-ins for them, so that a graded function calling one fails with a message
saying why (instead of an obscure ImportError), and records the call so the trusted judge can give
that function's tests zero with feedback. A student who removes these stand-ins gains nothing:
the real code is still absent.
"""
import importlib.abc
import importlib.machinery
import sys
import types

calls = []  # messages of forbidden calls made since the grader last cleared it

FORBIDDEN_PACKAGES = ("torch", "functorch", "torchgen", "tensorflow", "jax", "cv2", "skimage",
                      "scipy.signal", "scipy.ndimage", "cupy")
LIBRARY = "cs231n_lib"
LIBRARY_ALLOWED = {"gradcheck", "shapes", "plot", "data", "optim", "layers"}
# The practice check (cs231n_lib.practice) is a harmless no-op here: a notebook that calls it is
# graded as usual, and its cases, judge and mistake models (cs231n_lib.explain, .mistakes: a full
# reference implementation) stay outside the sandbox like fast_layers.
PRACTICE = LIBRARY + ".practice"
PRACTICE_SKIPPED = ("practice check skipped while grading: the grader runs its own hidden cases "
                    "(see the test cells' feedback)")


class LibraryCallForbidden(BaseException):
    """Raised by every stand-in. A BaseException, so `except Exception` in student code does not
    swallow it."""


class _Trip:
    def __init__(self, name):
        self._name = name

    def __getattr__(self, attr):
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        return _Trip(f"{self._name}.{attr}")

    def __call__(self, *args, **kwargs):
        msg = (f"{self._name} is a library implementation; graded functions must compute their "
               f"result themselves")
        calls.append(msg)
        raise LibraryCallForbidden(msg)

    def __repr__(self):
        return f"<not available while grading: {self._name}>"

    def __mro_entries__(self, bases):  # `class Net(torch.nn.Module)` must not crash the cell
        return (object,)


class _StubLoader(importlib.abc.Loader):
    def create_module(self, spec):
        mod = types.ModuleType(spec.name)
        mod.__path__ = []
        mod.__getattr__ = lambda attr, _n=spec.name: _Trip(f"{_n}.{attr}") \
            if not (attr.startswith("__") and attr.endswith("__")) else _raise(attr)
        return mod

    def exec_module(self, module):
        pass


def _raise(attr):
    raise AttributeError(attr)


def _practice_check(name=None, namespace=None):
    print(f"{name}: {PRACTICE_SKIPPED}" if name else PRACTICE_SKIPPED)


class _PracticeLoader(importlib.abc.Loader):
    def create_module(self, spec):
        mod = types.ModuleType(spec.name)
        mod.check_public = _practice_check
        return mod

    def exec_module(self, module):
        pass


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == PRACTICE:
            return importlib.machinery.ModuleSpec(name, _PracticeLoader())
        forbidden = any(name == p or name.startswith(p + ".") for p in FORBIDDEN_PACKAGES)
        if name.startswith(LIBRARY + "."):
            forbidden = name.split(".")[1] not in LIBRARY_ALLOWED
        if forbidden:
            return importlib.machinery.ModuleSpec(name, _StubLoader(), is_package=True)
        return None


if not any(isinstance(f, _Finder) for f in sys.meta_path):
    sys.meta_path.insert(0, _Finder())
