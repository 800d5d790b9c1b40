"""Compression (shen2025 algorithm.compression): make each network evaluation cheaper by shrinking the model.

* `pruning`      shen2025:algorithm.compression.pruning: structural pruning (torch-pruning) and a short fine-tune,
                 against the teacher and a same-MACs model trained from scratch
* `quantization` shen2025:algorithm.compression.quantization, ma2024:part5.compression: post-training
                 quantization of weights and activations (optimum-quanto, PT2E), against an fp32 model of
                 the same weight bytes
"""
