"""The device check: one command that proves the CUDA paths right and measures them.

``scripts/device_check.py`` (which installs the wheels that travel with it, then calls
:func:`rexrank.device_check.main.main`) builds random-weight stand-ins of every model in a
temporary HF cache, offline, and writes ``device_check.json`` plus a Markdown table:

* ``requirements``: what is installed, what is missing (and why it is needed);
* ``standins``: the stand-ins (real sizes on a GPU, tiny with ``--quick``);
* ``metrics``: per-study values on the device in fp32 against the CPU in fp32 (parity bounds
  of the parity tests), half precision's drift (reported, never the default), throughput at the
  batch sizes the scorers pick, per metric and for the default suite;
* ``green``: GREEN's tokens/s with transformers ``generate`` (and vLLM when importable);
* ``generation``: report generation (a VisionEncoderDecoder and a chat VLM) in studies/s, and
  one forced CUDA out-of-memory that the batch halving must survive;
* ``report``: the results (``Check``), JSON, Markdown and the one-line summaries.
"""
