import time

from st2reactor.sensor.base import Sensor


class WatchSensor(Sensor):
    """A passive sensor whose trigger takes parameters: one watch per rule that uses it."""

    def setup(self):
        self._watches = {}

    def add_trigger(self, trigger):
        self._watches[trigger["ref"]] = trigger

    def update_trigger(self, trigger):
        self._watches[trigger["ref"]] = trigger

    def remove_trigger(self, trigger):
        self._watches.pop(trigger["ref"], None)

    def run(self):
        for trigger in list(self._watches.values()):
            self.sensor_service.dispatch(trigger=trigger, payload={"label": trigger["parameters"]["label"]})
        while True:
            time.sleep(60)

    def cleanup(self):
        pass
