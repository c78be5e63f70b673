"""nbgrader settings for students (read by nbgrader and JupyterLab's Assignments tab when started here).

Only needed for the course exchange (JupyterHub or a shared machine): your instructor tells you if
the exchange folder differs. Assignments are fetched into, and submitted from, assignments/.
"""
import os

c = get_config()  # noqa: F821 -- provided by nbgrader when it reads this file
c.CourseDirectory.course_id = "convnets-from-scratch"
c.Exchange.root = os.environ.get("NBGRADER_EXCHANGE", "/srv/nbgrader/exchange")
c.Exchange.assignment_dir = "assignments"
