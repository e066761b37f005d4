"""Attune's stand-in for StackStorm's st2common.runners.base_action.

An action subclasses Action and implements run(**parameters). Its constructor gets the pack's
config and an action_service that reads and writes Attune's key-value store through the worker
(see attune_action_wrapper.py); the action never talks to a database itself.
"""

import abc
import logging

__all__ = ["Action"]


class Action(abc.ABC):
    """Base class of a StackStorm python-script action."""

    def __init__(self, config=None, action_service=None):
        self.config = config or {}
        self.action_service = action_service
        self.logger = logging.getLogger("st2.actions.python.%s" % self.__class__.__name__)

    @abc.abstractmethod
    def run(self, **kwargs):
        raise NotImplementedError()
