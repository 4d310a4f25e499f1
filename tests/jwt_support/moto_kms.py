"""moto_server with KMS Sign honouring MessageType=DIGEST.

moto 5.2.5 reads MessageType but ignores it: it hashes a DIGEST message again, so a signature
over a digest verifies only against SHA-256(digest). AWS KMS signs the digest as given
(https://docs.aws.amazon.com/kms/latest/APIReference/API_Sign.html). This launcher makes moto
do what KMS does for DIGEST, and nothing else: RAW messages, keys, GetPublicKey and the server
are moto's own. Usage: python moto_kms.py PORT
"""

import sys
import threading

from cryptography.hazmat.primitives.asymmetric import ec, utils
from moto.kms import utils as kms_utils
from moto.kms.responses import KmsResponse
from moto.server import main

_request = threading.local()
_sign = KmsResponse.sign


def sign(self):
    _request.digest = self._get_param("MessageType") == "DIGEST"
    try:
        return _sign(self)
    finally:
        _request.digest = False


def rsa_sign(self, message, signing_algorithm):
    pad, hash_algorithm = self._RSAPrivateKey__padding_and_hash_algorithm(signing_algorithm)
    if getattr(_request, "digest", False):
        if len(message) != hash_algorithm.digest_size:
            raise ValueError("digest length does not match the signing algorithm")
        hash_algorithm = utils.Prehashed(hash_algorithm)
    return self.private_key.sign(message, pad, hash_algorithm)


def ecdsa_sign(self, message, signing_algorithm):
    hash_algorithm = self._ECDSAPrivateKey__hash_algorithm(signing_algorithm)
    if getattr(_request, "digest", False):
        if len(message) != hash_algorithm.digest_size:
            raise ValueError("digest length does not match the signing algorithm")
        hash_algorithm = utils.Prehashed(hash_algorithm)
    return self.private_key.sign(message, ec.ECDSA(hash_algorithm))


KmsResponse.sign = sign
kms_utils.RSAPrivateKey.sign = rsa_sign
kms_utils.ECDSAPrivateKey.sign = ecdsa_sign

if __name__ == "__main__":
    main(["-H", "127.0.0.1", "-p", sys.argv[1]])
