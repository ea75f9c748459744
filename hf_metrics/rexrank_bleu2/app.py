import evaluate
from evaluate.utils import launch_gradio_widget

module = evaluate.load("rexrank_bleu2")
launch_gradio_widget(module)
