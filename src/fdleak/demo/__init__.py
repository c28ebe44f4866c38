"""fdleak demo: a real Celery worker with a leaky task, found by watch, trace and the Python tracker."""
