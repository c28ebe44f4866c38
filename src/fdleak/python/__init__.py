"""Python attribution: an in-process fd tracker, its bootstrap, and the pytest plugin.

``fdleak.python.tracker`` is the API; importing this package imports nothing else
(the pytest plugin and the bootstrap load only when used).
"""
