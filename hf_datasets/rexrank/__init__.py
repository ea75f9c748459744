"""The ReXrank datasets builder (``rexrank.py``) and its dataset card (``README.md``)."""
