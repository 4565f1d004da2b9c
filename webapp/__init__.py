"""parkmap web app (Flask); see ``create_app``."""
