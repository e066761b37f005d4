from st2common.runners.base_action import Action


class Reveal(Action):
    def run(self):
        token = self.action_service.get_value("api_token", local=False, decrypt=True)
        print("token is", token)
        return {"token": token}
