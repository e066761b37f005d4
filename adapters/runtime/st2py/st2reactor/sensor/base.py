"""StackStorm's sensor base classes, as sensors import them:

    from st2reactor.sensor.base import Sensor, PollingSensor

The constructor and the methods a sensor overrides are StackStorm's; what the sensor service
does with a dispatch is Attune's (st2reactor.container.sensor_wrapper).
"""

import abc
import time

__all__ = ["Sensor", "PollingSensor"]


class BaseSensor(abc.ABC):
    """Base of both kinds of sensor; not instantiated directly."""

    def __init__(self, sensor_service, config=None):
        self._sensor_service = sensor_service
        self.sensor_service = sensor_service
        self._config = config or {}
        self.config = self._config

    @abc.abstractmethod
    def setup(self):
        """Runs once, before run()."""

    @abc.abstractmethod
    def run(self):
        """Runs the sensor: returns only when it is done."""

    @abc.abstractmethod
    def cleanup(self):
        """Runs once when the sensor stops."""

    @abc.abstractmethod
    def add_trigger(self, trigger):
        """A trigger of this sensor exists."""

    @abc.abstractmethod
    def update_trigger(self, trigger):
        """A trigger of this sensor changed."""

    @abc.abstractmethod
    def remove_trigger(self, trigger):
        """A trigger of this sensor is gone."""


class Sensor(BaseSensor):
    """A passive sensor: run() waits for what it watches and dispatches."""

    @abc.abstractmethod
    def run(self):
        pass


class PollingSensor(BaseSensor):
    """An active sensor: poll() is called every poll_interval seconds."""

    def __init__(self, sensor_service, config=None, poll_interval=5):
        super().__init__(sensor_service=sensor_service, config=config)
        self._poll_interval = poll_interval

    @abc.abstractmethod
    def poll(self):
        """Looks once and dispatches what it found."""

    def run(self):
        while True:
            self.poll()
            # A subclass that hands its own poll_interval=None on to us (a common pattern)
            # polls at the default rather than failing.
            time.sleep(self._poll_interval if self._poll_interval is not None else 5)

    def get_poll_interval(self):
        return self._poll_interval

    def set_poll_interval(self, poll_interval):
        self._poll_interval = poll_interval
