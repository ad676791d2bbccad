"""ISO 4217 active currency codes and their exponents (minor units), from the list maintained by SIX (2026).

The one table of the project: what staff may enter as a currency, and how many decimals an amount in minor
units has wherever it is parsed or shown (12500 USD = 125.00; 5000 JPY = 5,000; 1500 KWD = 1.500).
"""

from __future__ import annotations

_CODES = """
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN BWP BYN BZD
CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL
GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD
KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO
NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD
SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV
WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG
"""
# Every code above has two decimals except these.
_OTHER_EXPONENTS = {
    0: "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF",
    3: "BHD IQD JOD KWD LYD OMR TND",
    4: "CLF UYW",
}
EXPONENTS: dict[str, int] = {code: 2 for code in _CODES.split()} | {
    code: exponent for exponent, codes in _OTHER_EXPONENTS.items() for code in codes.split()
}
ISO_4217: frozenset[str] = frozenset(EXPONENTS)


def exponent(currency: str) -> int:
    """Decimals of the currency's minor unit. A code outside the list (an event recorded before codes were
    checked) is shown with two: showing money must never fail; refusing a code is `iso_4217`'s job."""
    return EXPONENTS.get(currency.upper(), 2)


def iso_4217(code: str) -> str:
    """A pydantic validator: the code itself if it is an active ISO 4217 currency."""
    if code not in ISO_4217:
        raise ValueError(f"{code!r} is not an ISO 4217 currency code")
    return code
