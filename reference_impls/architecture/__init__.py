"""Architectures (ma2024 part 3): the backbone behind every network evaluation.

* `backbone` ma2024:part3.transformer: a tiny DiT (diffusers' DiTTransformer2DModel) against the UNet
             substrate at equal parameters, trained on the same digits with the same recipe
"""
