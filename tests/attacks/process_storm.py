"""Attack: leave busy processes behind in new sessions (double forks) to slow the students graded
beside it. The sandbox kills them when the cell ends (and caps the whole sandbox at one core): it
gains nothing, and the rest of its own notebook runs as usual.

assignment: pooling
loses:
"""
import os
import time

for _ in range(20):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        os.setsid()
        if os.fork() == 0:
            time.sleep(0.5)  # start spinning once the cell has handed over
            t = time.time()
            while time.time() - t < 120:
                pass
        os._exit(0)
