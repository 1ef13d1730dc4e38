# placeholder: replaced by the agent issue
