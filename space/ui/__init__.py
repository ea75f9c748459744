"""The Space's user interface: ``views`` (what each tab shows, plain functions) and ``tabs`` (the Gradio components)."""
