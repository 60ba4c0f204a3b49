"""The face pipeline: camera → detect → quality gate → align → embed → match.

No Qt here. torch, OpenCV and facenet-pytorch are imported only inside the modules that need them,
so that importing this package stays cheap.
"""
