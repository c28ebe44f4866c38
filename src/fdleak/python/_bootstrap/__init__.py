"""The directory put first on a child's PYTHONPATH so its sitecustomize starts the tracker."""
