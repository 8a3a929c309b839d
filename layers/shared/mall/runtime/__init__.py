"""How this code lives in Lambda's execution environment (SnapStart hooks: ``mall.runtime.snapstart``)."""
