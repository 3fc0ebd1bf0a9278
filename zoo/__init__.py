"""medzoo model zoo: find, load and use pretrained medical image augmenters."""
