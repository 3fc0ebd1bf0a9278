"""The NumPy MiniLM matches sentence-transformers on the same bundled model, so meaning search needs no torch."""
import numpy as np

from catalog.embed import embed, get_model


def test_numpy_minilm_matches_sentence_transformers():
    from sentence_transformers import SentenceTransformer

    from catalog.embed import model_dir

    texts = ["CycleGAN augmentation of liver CT", "pneumonia chest radiographs", "word " * 400]  # last one truncates
    ref = SentenceTransformer(str(model_dir()), device="cpu").encode(texts)
    ours = get_model().encode(texts)
    assert np.abs(ours - ref).max() < 1e-4


def test_embed_cache_returns_same_vectors():
    texts = ["brain MRI synthesis", "brain MRI synthesis", "retinal fundus GAN"]
    a, b = embed(texts), embed(texts[::-1])
    assert a.shape == (3, 384) and np.allclose(a[0], a[1]) and np.allclose(a, b[::-1])
    assert np.allclose(np.linalg.norm(a, axis=1), 1, atol=1e-5)
