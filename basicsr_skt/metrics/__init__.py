"""HDR metrics. BasicSR does not auto-import metric modules, so each one is imported here explicitly."""
