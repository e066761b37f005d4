"""Runs one StackStorm sensor class as an Attune sensor process.

Attune starts `python -u sensor_wrapper.py` (the python of the pack's virtualenv when the
pack has a requirements.txt) and writes one JSON document on stdin:

    {"sensor": "mon.DiskSensor", "triggers": ["mon.disk_low"], "poll_interval": 30,
     "config": {...}, "entry_point": "/packs/mon/sensors/disk_sensor.py",
     "class_name": "DiskSensor",
     "trigger_instances": [{"rule": "mon.on_var", "trigger": "mon.disk_low",
                            "parameters": {"mount": "/var"}}]}

The wrapper loads the class from entry_point, builds it with a SensorService, and runs
setup(), add_trigger() once per trigger instance, then run(); on SIGTERM it calls cleanup()
and exits. A trigger type the rules pass parameters to (a parameters_schema) has one instance
per such rule, with its parameters; a trigger type without parameters has one instance. Each
instance has a ref of its own ("mon.disk_low" for the plain one, "mon.disk_low:mon.on_var" for
a rule's), which the sensor hands back to dispatch(), directly or as the trigger dict.
sensor_service.dispatch() writes Attune's protocol on stdout, one JSON object a line:
{"trigger": "mon.disk_low", "payload": {...}, "rule": "mon.on_var"}. Everything else the
sensor prints goes to stderr, which Attune logs, so a stray print() never reaches the event
protocol.
"""

import importlib.util
import json
import logging
import os
import signal
import sys
import threading

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from st2reactor.sensor.base import PollingSensor  # noqa: E402


class SensorService:
    """What a sensor reaches as self.sensor_service (self._sensor_service)."""

    def __init__(self, out, sensor_ref, triggers, instances=(), log_level=logging.INFO):
        self._out = out
        self._lock = threading.Lock()
        self._ref = sensor_ref
        self._pack = sensor_ref.split(".", 1)[0]
        self._triggers = list(triggers)
        # instance ref → (trigger type ref, rule ref)
        self._instances = {}
        for inst in instances:
            self._instances[inst["trigger"] + ":" + inst["rule"]] = (inst["trigger"], inst["rule"])
        self._values = {}
        self._warned_values = False
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger("st2sensor")
        root.addHandler(handler)
        root.setLevel(log_level)
        root.propagate = False
        self._logger = self.get_logger("sensor_service")

    def get_logger(self, name):
        """A logger whose records go to stderr, which Attune logs line by line."""
        return logging.getLogger("st2sensor." + self._ref + "." + name)

    def _trigger_ref(self, trigger):
        if isinstance(trigger, dict):
            trigger = trigger.get("ref") or trigger.get("type") or ""
        trigger = str(trigger)
        if "." not in trigger:
            trigger = self._pack + "." + trigger
        return trigger

    def dispatch(self, trigger, payload=None, trace_tag=None):
        """Posts an event of trigger (a ref, or a trigger dict) with payload (a dict).

        trace_tag labels the event and every execution it causes (`attune execution get`
        shows it), as StackStorm's trace does."""
        ref = self._trigger_ref(trigger)
        ref, rule = self._instances.get(ref, (ref, None))
        event = {"trigger": ref, "payload": payload if payload is not None else {}}
        if rule is not None:
            event["rule"] = rule
        if trace_tag is not None:
            event["trace_tag"] = str(trace_tag)
        line = json.dumps(event, default=str)
        with self._lock:
            self._out.write(line + "\n")
            self._out.flush()

    def dispatch_with_context(self, trigger, payload=None, trace_context=None):
        self.dispatch(trigger, payload=payload, trace_tag=None if trace_context is None else str(trace_context))

    # The datastore. Attune's key-value store is not reachable from a sensor process (it
    # holds no credentials), so values live in the process: they survive between polls,
    # not across a restart of the sensor. The first use says so on stderr.
    def _warn_values(self):
        if not self._warned_values:
            self._warned_values = True
            self._logger.warning("datastore values of this sensor live as long as its process (Attune does not hand sensors its key-value store)")

    def _key(self, name, local, scope):
        if scope not in (None, "system", "user"):
            raise ValueError("scope %r: want system or user" % (scope,))
        return (self._ref + ":" + name) if local else name

    def list_values(self, local=True, prefix=None, limit=None, offset=0, scope="system", decrypt=False):
        self._warn_values()
        out = []
        for k, v in sorted(self._values.items()):
            name = k.split(":", 1)[1] if local and k.startswith(self._ref + ":") else k
            if (local and not k.startswith(self._ref + ":")) or (prefix and not name.startswith(prefix)):
                continue
            out.append({"name": name, "value": v})
        return out[offset:(offset + limit) if limit else None]

    def get_value(self, name, local=True, scope="system", decrypt=False):
        self._warn_values()
        return self._values.get(self._key(name, local, scope))

    def set_value(self, name, value, ttl=None, local=True, scope="system", encrypt=False):
        self._warn_values()
        if ttl is not None:
            self._logger.warning("set_value %s: ttl %s is not applied (values live as long as the process)", name, ttl)
        self._values[self._key(name, local, scope)] = value
        return True

    def delete_value(self, name, local=True, scope="system"):
        self._warn_values()
        return self._values.pop(self._key(name, local, scope), None) is not None


def _trigger(ref, type_ref, parameters):
    """A trigger as StackStorm hands it to add_trigger: its ref, its type and parameters."""
    pack, _, name = ref.partition(".")
    return {"id": ref, "ref": ref, "uid": "trigger:%s:%s" % (pack, name), "name": name, "pack": pack,
            "type": type_ref, "parameters": parameters}


def _load_class(entry_point, class_name):
    directory = os.path.dirname(entry_point)
    if directory not in sys.path:
        sys.path.insert(0, directory)  # a sensor may import its sibling modules
    name = os.path.splitext(os.path.basename(entry_point))[0]
    spec = importlib.util.spec_from_file_location(name, entry_point)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    cls = getattr(module, class_name, None)
    if cls is None:
        raise SystemExit("%s defines no class %s" % (entry_point, class_name))
    return cls


def main():
    settings = json.load(sys.stdin)
    out = sys.stdout
    sys.stdout = sys.stderr  # the protocol is dispatch()'s alone
    instances = settings.get("trigger_instances") or []
    service = SensorService(out, settings["sensor"], settings.get("triggers") or [], instances)
    cls = _load_class(settings["entry_point"], settings["class_name"])
    kwargs = {"sensor_service": service, "config": settings.get("config") or {}}
    if issubclass(cls, PollingSensor) and settings.get("poll_interval"):
        kwargs["poll_interval"] = settings["poll_interval"]
    sensor = cls(**kwargs)

    def stop(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        sensor.setup()
        parameterised = {inst["trigger"] for inst in instances}
        for ref in settings.get("triggers") or []:
            if ref not in parameterised:
                sensor.add_trigger(_trigger(ref, ref, {}))
        for inst in instances:
            sensor.add_trigger(_trigger(inst["trigger"] + ":" + inst["rule"], inst["trigger"], inst.get("parameters") or {}))
        sensor.run()
    finally:
        sensor.cleanup()


if __name__ == "__main__":
    main()
