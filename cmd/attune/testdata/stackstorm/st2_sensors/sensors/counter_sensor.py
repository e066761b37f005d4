import fixture_greeting  # from the pack's virtualenv

from st2reactor.sensor.base import PollingSensor


class CounterSensor(PollingSensor):
    def __init__(self, sensor_service, config=None, poll_interval=None):
        super(CounterSensor, self).__init__(sensor_service=sensor_service, config=config,
                                            poll_interval=poll_interval)
        self._logger = self.sensor_service.get_logger(name=self.__class__.__name__)
        self._trigger = None

    def setup(self):
        self._logger.info("counting to %s", self._config["max_count"])

    def poll(self):
        count = (self.sensor_service.get_value("count") or 0) + 1
        if count > self._config["max_count"]:
            return
        self.sensor_service.set_value("count", count)
        self.sensor_service.dispatch(trigger=self._trigger,
                                     payload={"count": count, "word": fixture_greeting.WORD},
                                     trace_tag="count-%d" % count)

    def cleanup(self):
        pass

    def add_trigger(self, trigger):
        self._trigger = trigger["ref"]

    def update_trigger(self, trigger):
        pass

    def remove_trigger(self, trigger):
        pass
