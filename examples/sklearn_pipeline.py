"""scratchnn's scikit-learn estimator in a Pipeline on MNIST: fit, then print the test accuracy.

Run: python examples/sklearn_pipeline.py   (needs scikit-learn: pip install -e '.[sklearn]')

Early stopping holds out 10% of the training images to choose when to stop;
the test set is only scored, once, at the end.
"""

from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler

from scratchnn.data import load_dataset
from scratchnn.sklearn import NeuralNetClassifier

mnist = load_dataset("mnist")
X_train = mnist.train.images.reshape(len(mnist.train), -1)  # (60000, 784) uint8 pixels
X_test = mnist.test.images.reshape(len(mnist.test), -1)

pipeline = make_pipeline(
    MinMaxScaler(),
    NeuralNetClassifier(
        hidden_layer_sizes=(128, 64),
        optimizer="adam",
        lr=1e-3,
        batch_size=128,
        epochs=30,
        early_stopping=3,
        validation_fraction=0.1,
        random_state=0,
    ),
)
pipeline.fit(X_train, mnist.train.labels)
net = pipeline[-1]
best = net.history_[net.best_epoch_ - 1]
print(
    f"{net.model_}: {net.n_epochs_} epochs, weights of epoch {net.best_epoch_} kept "
    f"(validation loss {best['val_loss']:.4f}, accuracy {best['val_accuracy']:.2%})"
)
print(f"MNIST test accuracy: {pipeline.score(X_test, mnist.test.labels):.2%}")
