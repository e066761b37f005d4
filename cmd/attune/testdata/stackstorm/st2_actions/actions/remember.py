from st2common.runners.base_action import Action

from greetings import shout


class Remember(Action):
    def run(self, word, unset, fail):
        self.logger.info("remembering %s", word)
        previous = self.action_service.get_value("last_word")
        self.action_service.set_value("last_word", word)
        print("stored", word)
        if fail:
            return (False, {"error": "asked to fail"})
        return (True, {"previous": previous, "shout": shout(word), "unset_is_none": unset is None,
                       "config": self.config})
