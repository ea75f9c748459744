import evaluate
from evaluate.utils import launch_gradio_widget

module = evaluate.load("rexrank_ratescore")
launch_gradio_widget(module)
