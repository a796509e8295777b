"""The implementation the graph backends (Theano, PyTensor) share, framework-free.

Theano and PyTensor build the same kind of symbolic graph with nearly the same ``tensor``
module, so every op is written once here against a ``framework.Framework`` adapter; the
backend packages ``theano/`` and ``pytensor/`` each provide the adapter and bind the ops
(``ops.bind``) as module functions. Nothing here imports either framework, so each backend
imports only its own. Modules follow the backend layout: ``core`` (tensors, shapes,
compile, autodiff), ``array``, ``math``, ``nn``, ``rnn``; ``tree`` flattens nested arguments.
"""
