import evaluate
from evaluate.utils import launch_gradio_widget

module = evaluate.load("rexrank_modern_radgraph_xl")
launch_gradio_widget(module)
