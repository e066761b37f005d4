import fixture_greeting  # from the pack's virtualenv

from st2common.runners.base_action import Action


class GreetAction(Action):
    def run(self, name):
        return fixture_greeting.greet(self.config["greeting"], name)
