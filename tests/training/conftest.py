import dataclasses

import pytest


@pytest.fixture(scope="session")
def small_mnist(mnist):
    """The first 4,000 training and 1,000 test images: real data, fast epochs."""

    def head(split, n):
        return dataclasses.replace(split, images=split.images[:n], labels=split.labels[:n])

    return dataclasses.replace(mnist, train=head(mnist.train, 4000), test=head(mnist.test, 1000))
