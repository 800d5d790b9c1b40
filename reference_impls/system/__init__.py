"""System level (shen2025 system, framework): the same model, run faster on real hardware.

* `caching`  shen2025:system.caching: DeepCache-style reuse of deep UNet features between steps (and
             diffusers' cache hooks on the tiny DiT), against FLOP-equal step counts
* `runtime`  shen2025:system.hw_sw_codesign, shen2025:framework, ma2024:part6.on_device: torch.compile,
             bf16, channels_last, ONNX Runtime, OpenVINO on one trained model
* `parallel` shen2025:system.parallel, ma2024:part6.parallel: seeds sharded over torch.distributed ranks,
             and ParaDiGMS-style Picard iterations over a window of steps
"""
