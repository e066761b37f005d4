from st2common.runners.base_action import Action


class Sized(Action):
    def run(self, n):
        return {"size": n}
