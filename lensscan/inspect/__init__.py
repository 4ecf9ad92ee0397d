"""Grading candidates by eye: a local web app, grades in SQLite, consensus and export.

``lensscan inspect`` serves the candidates of a ranked catalog to one grader in a browser
(:mod:`lensscan.inspect.app`), grades go into a shared SQLite database
(:mod:`lensscan.inspect.grades_db`), and ``lensscan grades`` combines several graders'
grades into consensus classes (:mod:`lensscan.inspect.consensus`), writes them out
(:mod:`lensscan.inspect.export`) and summarises agreement (:mod:`lensscan.inspect.summary`).
The web stack (Starlette, uvicorn) is imported only by the app and server modules.
"""
