"""The site console: every kiosk and locker of a site in a browser, an API and metrics.

FastAPI + Jinja2 + htmx (vendored, no build step), over the site's shared database. It never
drives a board (actions become commands for the owning kiosk), never holds the template key and
imports neither torch, onnxruntime, cv2 nor Qt.
"""
