"""The per-study explorer: why a system scored what it did, study by study.

``data`` answers the questions (a page of the study table, one study, the same study across
systems, where two systems disagree) from ``results.json`` contents, without Gradio, so it is
tested and measured on its own; ``render`` turns a study into HTML; ``ui`` is the Gradio page
(``rexrank explore``) and the Space's Explore tab (``rexrank.space.ui.explorer``).
"""
