"""Typing: a parsed function and its argument types -> a :class:`~jitkit.compiler.tir.Function`.

:mod:`.typer` drives the passes (:class:`~.typer.CompileUnit`, :func:`~.typer.type_function`);
:mod:`.statements`, :mod:`.expressions`, :mod:`.calls` and :mod:`.arrays` type each kind of node,
:mod:`.operators` and :mod:`.builtins` hold the rules of Python operators and of calls to builtins,
``math``/``cmath`` and the jitkit intrinsics; :mod:`.values` the small classes they share.
"""
