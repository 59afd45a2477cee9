// Known answers for the init() self-test. Derived from fixed seeds (bytes
// 0, 1, 2, ...): ML-KEM-768 keygen seed 0..63 and encapsulation seed 64..95,
// Falcon-512 keygen seed 0..47 and signing seed 0..87 over SELF_TEST_MESSAGE.
// test/bindings/self-test.test.ts recomputes every value here with independent code:
// @noble/post-quantum (ML-KEM, Falcon), node:crypto and @noble/hashes (the AE).

export const SELF_TEST_MESSAGE = 'pqc-iiot self-test';

/**
 * bindings/ae.ts's seal of SELF_TEST_MESSAGE: encryption key bytes 0..31, MAC key 32..63, nonce 64..75,
 * aad 96..98. Computed independently: node:crypto's AES-256-CTR and @noble/hashes' KMAC256
 * (test/bindings/ae.test.ts checks the construction on random inputs the same way).
 */
export const AE_SEALED = '3728888b4d3bfc30ac98f269dc8a615cbac7048988da828f0510e487750d865ab577';

/**
 * The ML-KEM-768 ciphertext of encapsulation seed 64..95 to the public key of keygen seed 0..63. The self-test
 * decapsulates it instead of encapsulating: decapsulation re-encrypts, so it runs the encryption path too, and two
 * operations instead of three keep V8 from compiling the hot functions with its optimising tier during init()
 * (four TurboFan compilations with three operations, one with two; measured, see bench/RESULTS.md).
 */
export const MLKEM768_CIPHERTEXT =
  'aVpg2cefCDQ+2f9YAlggY8LKOmSOVD2SSv+7Oe9N5lZZHw12ieZia+fqf+2vE04sJ8Z5fHOl7a8WgI8UHIr88xYU6KtmU3lXPk0K' +
  'IDfL93YEgWe6U1dgAaJZZALPJLXUU2K8iTzq7zWZ92sQgS5iYALmbbXFsPK5pwgOMtto3MjQTCT4RhpYu35H7+Zw10CtivmCADOE' +
  'XvX4gPJvDgCtsqvvh29ScEd+u7At5nh85yyoeF+xgfRsP/euN4fCXGjMzu+zVRh1udd8TUObYFDrOCqs+edEIn6MRuCppVg46nA0' +
  '9bS8th8QI6gBhueV9LPYrpOYiZQiT6LYPiFxFnDaAeKz4nL4FhbAvIjMRvZB0W4NDAkkz0pKXBqRKMIm1JGKo5vvlBmd//ozh27w' +
  'v6DZVg0l9boIBo1ScfMtL52IvPU8fc+BGo1e/mF/XgVwDTR408t5MlKNG86yQBmKTPh1LK6j04fwB1mhNWt6W/GDjSbDVz6S5p8P' +
  'V8BujCVFnrg+Es3XX1Qagc5xDq/OKYR4PzDjezJ/+TtyKXxs2MeMGFrVOGSVIGnX1sO8Yzrl4aWSWFXfC35xS73iRfaIIuCVDCPJ' +
  'bWERdTpu0MRszkN/U7a7cIwaPiWXlzMZjZh54yN+dpRx+SLlefN8/WQdKb3P26qB7a4JrrBGNm4DdtBCgtF3eKjVR3Toyb48gise' +
  'kM2IlavB24lRt2h/Y/7lDsQ/ryNzCxUYnnyYKyLYlqly2jwu5Sm7X+Y2MMnC3fudHkJjo9Sa8oMgU9l++ivReC8l17hk1vs3CL+5' +
  '1LxsLMZFjU8UWZlds4fotQOCWkSWxzUlKqYwobyqeiZ0cnOW3K9nAwtTRzlRZR3CbCJHa/0R0zIGrw/wNe0DXjRxbJBejd8EOkza' +
  '4UUjjY9hLby3XoeWU7ueJlfatYuUT/NPl3/hXOkH9oFKX5Izh3Tm8qtSV9JJF97N0VjG1FlBifQqm3+pFZqK9qqCW6kEZU4IyJSQ' +
  'Epj/snI53eqCg91FuHYDbArs8DWDukRFKXV0RMhX//bk+O1I+KGArepUl5pnjxbcasjtzI5y7QjpYILw/0Ug3GNdSoRqMCb9hqSL' +
  'EpfgzfwGAIeT54O94cP8anGHHmax/rVgSVgXqrvcWfAUnz52rdm1vWzjRzTedZPtYH77hMbnMpYMdEyQipy4lHN1pVtV+i8M1nQr' +
  'dcEPZVItOES+2bBb1EG7vqF8+6va75hHoO3ZyDKadi405TlgFNiLTTRPJQqt3v2Re7ISDRFpx5ywn1m60hhQdSwQmf/5i3G82qt2' +
  '9wYzI+ePqlIc0kP3Tdx/d3WqeZYGIuE1gKaDHmm7fyMh0UHTXaiDF3GQeNTbMZ8whZTCaDZQP2I2LEAAUCKTfBKYqSjAQIeWYTSa' +
  'e1Ni0KdfKJO5eiYA1TNyOacKa2SkV+bf1cdNRi5+eQu57zzuFGE=';

/** SHAKE-256(pk || ss), 32 bytes: the public key of keygen seed 0..63 and the shared secret of the ciphertext above. */
export const MLKEM768_DIGEST = '3983a41c1f71423e3291e444d4785afce030ff8b7722e2c36857afa093c0f533';

export const FALCON512_PUBLIC_KEY =
  'CWKpHAh8wIp5aNgw1OoXZiVm9gYFWjkQN0GjVpsBVSkbD537G86LxoBghZYdF/fdmqZmGr+j4twdgRS+KnXs31pOp/tuKOYQGHd4' +
  'jMorJ1V3BmyGq2tyknQJ23Q/kaaB5+5zp/6Ay/cOm25M5XtnEJh5QUDET12rplI2ceNLhGVa/9RK2tcqYqLA/t1KvEEetWlimk5m' +
  'eJAlwgScWCnWeSP0SyAvdq6sISD8WfmwSHadmtZle6p2ufkZ4J8Il6YgtKZuz3h52JSqP6HXmHwg1etXcVwQqwYLy3Gh0QdLpQOv' +
  'Da5zxFGcX2DW0UKeL7YlNIiGc9qasDY5RTSPJhTW6Fm7qmM0aT6wuGfgc7o3OVxTplVVfaqAWLhCfVXF54MBtYax2A9F5HjCfkHK' +
  '1NhnaLWYwqHJh3wU6OOcVrhJgqYoaVMSBqmk+ANuniCnFu/JNkD6HmdbhX89kZOVREkGCzyloHBT4QVx7wsySpyl1qLJpYwfvlTL' +
  'Gq4Dm2tNiNFMov6CyPBRTuNEO4bK+YFn/2qUfEf46W6vsZAVqmMstGkcZgvko79aSIFLhAQmMikqI5n1vF2jZ8iBiGw9QxdZFTJV' +
  'QrbSUikmljHKlksWAgapFWSKAJVMaVrglZksfVU/scOvd3FcAnVOGR1PkRrmum9DWy0Jg2tli0+yXvKK5SkKqUbnKtsITKRBMKxu' +
  'eglw44TXxXOsqOxTm+JqoXXkMjbSpzbo+Yb66gaSCIFJ66mbmax9ZZ4AJh5w9kMso4VcsLRGOdTePK4xyc/t4qkxdUhvWW4EscGb' +
  'VNx4Uj0WhdRlSXuRE9kVSLaiHIXRwqecG8AfwTNWzxzIdjqFGbe42DsFRuwujGTCo28cSJiwifGeiy1e6CeaMFYhSZJwAdBa70C0' +
  'HyRRgpwSfipShYjDHeozNM5oXp9QguJ11tCs4IQF4Eb+ekjo1NQntKYJxLpiDtahCNZ4c5a2kCBDCndWdHlaQuNuUElW6HKbVQu6' +
  'gIS3uhas0IUk/chGGOJ08ejrV9XQMiXSS8TkEUJa1MLbJep+vSqyEIKxULVUZpnO9kA0ydtL7vdDkb/UUczOcHi6UrQAfpHod0N9' +
  'mGIKam9w68HsPki+QhAUEhFAJMiRxmsbDccU9It7bwnryBAdTkg48ZAfgjeiQtYAvBf5hUkLS69ah0HZKkFfqzOg3kyQJd4A';

export const FALCON512_SIGNATURE =
  'OQABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4fICEiIyQlJieNgy7qQ4LwQ1m4MkMrxBx+0+vs4HW81Mh+nOylx4nBMMr/' +
  '3oPOVuvfTrf+M0DbQfylKlWp8bKum1ZMug1i+UZrNa/qF3SzThs4tlsFL5yQBN4eauCXRBibZx+2HcZJUgUrfq53JQkErjVny83n' +
  'f+nRjIBDovMoOhnR6+YeCy7zr8uJ4Mgmz8FLSUjcF52k90FUlW8nOd1UWlz8QYc3bZzSxb5BDDKynb75RXkXJtkU2ZPM6H9GlphR' +
  'vL13TYbyxRVdVblLkXDOVhUXeWFyYS7d5zeL/JquZrmSBtFUtK1QvFr+ga83+vSkSjj33QIwzv4RBaP91uPhCAqjMMhesm+kPdSG' +
  'NeTrIRShwKl4fvRIk8d4tcMdfFkJC33rwyisCih2TluTlGhfeO1ez6Wbm8KQh7u1sonWp3Kk8rdjiQ3GTm1x7WYo2sM3UW1RvUFN' +
  'UtmBlm43aLT5pWWKDFsjFeRFUa6z94BwFAryev7YpnnobTPKoi9MRg2Q6/XcTESuZO7lWzbiVPzdJdwl/t8EDAsquzwpg5GKS9kM' +
  'M7PWprQU3KsAlTvy1LJna1enOsQCn5Bksrm3/4P6Qop6HLvQCF/X8F3yO6WmmKAiHN4ui6mnMm3XHurEpUplLgi7raqCM+lOcajU' +
  'P/uxKHXuBzbWmhzE3msbzRV7b58UVB3li2DPIiqXmoKj7RedpOfq1PXiM8Z+C1Lm82DUszqNwmVE3QN3vCiJK1Y6ljY+qchqWCrk' +
  'DiZUmz0KxWypGTZYjsh3kmRCGPFM+t1o3vIYT6oGEVBSu8uz0Zva1fqo3oHadabx3dfK';
