"""Runs one StackStorm python-script action for Attune's worker.

The worker writes a JSON header on stdin: the entry point, the action's parameters (every
declared one, None when unset), the pack's config and the log level. It listens on fd 3 for
requests (one JSON object a line) and answers on fd 4: the key-value store calls of
action_service, then the action's outcome. Parameters and results never pass through argv or
the environment.

As StackStorm's python runner: run() returning (bool, result) sets the status; any other value
is the result of a run that succeeded; an exception fails the run with its traceback on
stderr, exit code 1.
"""

import importlib.util
import inspect
import json
import logging
import os
import sys
import traceback

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from st2common.runners.base_action import Action  # noqa: E402

SYSTEM_SCOPE = "system"
INVALID_STATUS_EXIT_CODE = 220


class _Channel(object):
    def __init__(self):
        self._out = os.fdopen(3, "w", encoding="utf-8")
        self._in = os.fdopen(4, "r", encoding="utf-8")

    def call(self, **request):
        self._out.write(json.dumps(request, default=str) + "\n")
        self._out.flush()
        line = self._in.readline()
        if not line:
            raise RuntimeError("the worker closed the key-value channel")
        answer = json.loads(line)
        if not answer.get("ok"):
            raise ValueError(answer.get("error", "key-value store call failed"))
        return answer.get("value")

    def send(self, **message):
        self._out.write(json.dumps(message, default=str) + "\n")
        self._out.flush()


class ActionService(object):
    """StackStorm's ActionService: the key-value store, as seen from an action.

    local=True names a key of this pack and this action class (StackStorm prefixes it with
    "<pack>.<class>:"); local=False a system key. Only the system scope exists here.
    """

    def __init__(self, channel, class_name):
        self._channel = channel
        self._class_name = class_name

    def _key(self, name, local, scope):
        if scope not in (SYSTEM_SCOPE, "st2kv.system"):
            raise ValueError('scope "%s" is not supported: attune has the system scope only' % scope)
        return {"name": name, "local": bool(local), "class": self._class_name}

    def get_value(self, name, local=True, scope=SYSTEM_SCOPE, decrypt=False):
        return self._channel.call(op="get", **self._key(name, local, scope))

    def set_value(self, name, value, ttl=None, local=True, scope=SYSTEM_SCOPE, encrypt=False):
        self._channel.call(op="set", value=value, ttl=ttl, secret=bool(encrypt), **self._key(name, local, scope))
        return True

    def delete_value(self, name, local=True, scope=SYSTEM_SCOPE):
        return bool(self._channel.call(op="delete", **self._key(name, local, scope)))

    def list_values(self, local=True, prefix=None):
        raise NotImplementedError("list_values is not supported: read keys by name with get_value")


def _action_class(entry_point):
    directory = os.path.dirname(entry_point)
    if directory not in sys.path:
        sys.path.insert(0, directory)  # an action may import its sibling modules
    name = os.path.splitext(os.path.basename(entry_point))[0]
    spec = importlib.util.spec_from_file_location(name, entry_point)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    classes = [c for _, c in inspect.getmembers(module, inspect.isclass)
               if issubclass(c, Action) and c is not Action and c.__module__ == module.__name__]
    if not classes:
        classes = [c for _, c in inspect.getmembers(module, inspect.isclass)
                   if issubclass(c, Action) and c is not Action]
    if not classes:
        raise Exception('File "%s" has no action class (a subclass of st2common.runners.base_action.Action)' % entry_point)
    return classes[0]


def main():
    header = json.load(sys.stdin)
    channel = _Channel()
    level = getattr(logging, str(header.get("log_level") or "DEBUG").upper(), logging.DEBUG)
    if str(header.get("log_level")).upper() == "AUDIT":
        level = logging.INFO
    logging.basicConfig(stream=sys.stderr, level=level,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    cls = _action_class(header["entry_point"])
    service = ActionService(channel, cls.__name__)
    config = header.get("config") or {}
    try:
        action = cls(config=config, action_service=service)
    except TypeError as e:
        # An older action's constructor takes config only: StackStorm assigns the service
        # afterwards.
        if "action_service" not in str(e):
            raise
        action = cls(config=config)
        action.action_service = service
    output = action.run(**header.get("parameters", {}))
    status = None
    result = output
    if isinstance(output, tuple) and len(output) == 2:
        status, result = output
        if not isinstance(status, bool):
            sys.stderr.write("Status returned from the action run() method must either be True or False, got: %s\n" % (status,))
            sys.exit(INVALID_STATUS_EXIT_CODE)
    try:
        json.dumps(result)
    except (TypeError, ValueError):
        result = str(result)
    channel.send(op="result", status=status, result=result)


if __name__ == "__main__":
    try:
        main()
    except SystemExit:
        raise
    except BaseException:
        traceback.print_exc()
        sys.exit(1)
