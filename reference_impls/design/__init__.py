"""Efficient design (ulhaq2022 eds, shen2025 algorithm.training): what the model is and what it is asked.

* `guidance` ulhaq2022:eds.guidance.guided, ulhaq2022:eds.guidance.not_guided, ma2024:part2.conditioning:
             classifier guidance and classifier-free guidance against unguided sampling at equal cost
* `latent`   shen2025:algorithm.training.latent_diffusion, ulhaq2022:eds.representation.latent/pixel,
             ma2024:part3.latent_autoencoder: diffusion in a small autoencoder's latent space vs pixels
"""
