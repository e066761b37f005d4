"""Attune's stand-in for StackStorm's st2reactor: the sensor base classes and the wrapper
that runs a sensor class as an Attune sensor process (docs/stackstorm/sensors-and-deps.md)."""
