"""wsol.methods: WSOL methods (backbone + heads + loss) behind the :class:`WSOLMethod` contract."""

from wsol.methods.acol import ACoLMethod
from wsol.methods.base import WSOLMethod
from wsol.methods.cam import CAMMethod
from wsol.methods.outputs import MethodOutput

__all__ = ["ACoLMethod", "CAMMethod", "MethodOutput", "WSOLMethod"]
