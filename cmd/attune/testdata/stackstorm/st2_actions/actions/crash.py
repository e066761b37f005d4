from st2common.runners.base_action import Action


class Crash(Action):
    def run(self):
        raise ValueError("the disk is on fire")
