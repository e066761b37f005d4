"""The import path of Action before StackStorm 2.x moved it to st2common.runners.base_action."""

from st2common.runners.base_action import Action  # noqa: F401

__all__ = ["Action"]
