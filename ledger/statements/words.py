"""The statements' words, in French (the default: statements go to homes in France) and
English; numbers, amounts and dates are written as on the web pages (`ledger.web.i18n`)."""

from __future__ import annotations

from collections.abc import Mapping

from ledger.web.i18n import WORDS, Words

STATEMENT_WORDS: Mapping[str, Mapping[str, str]] = {
    "fr": {
        "title": "Relevé annuel de vos droits {year}",
        "subtitle": "Compte personnel d’activité — situation au {day}",
        "person_key": "Référence de la personne (clé)",
        "identifier": "Identifiant (NIR ou NIA)",
        "issued": "Établi le {day}",
        "rights": "Vos droits au {day}",
        "no_pending": "Aucune année n’attend d’être créditée.",
        "pending_line": "Année {year} pas encore créditée : {amount} attendus.",
        "credited": "Ce qui a été crédité en {year}",
        "credited_none": "Rien n’a été crédité en {year}.",
        "why": "Pourquoi",
        "used": "Ce qui a été utilisé en {year}",
        "used_none": "Rien n’a été utilisé en {year}.",
        "held_now": "Bloqué au {day} pour des formations commandées : {amount}.",
        "converted": "Conversion au {day} : {memo}.",
        "expiring": "Abondements qui expirent d’ici le {day}",
        "expiring_none": "Aucun abondement n’expire d’ici le {day}.",
        "expiring_line": "{grant} ({funder}) : {amount} restants, expire le {on}{refund}.",
        "expiring_refund": " ; la part non utilisée revient au financeur",
        "options": "Vos options",
        "dif_have": "Vos heures DIF transférées font partie de vos droits : {amount}, "
                    "utilisables comme vos droits CPF.",
        "dif_open": "Vous pouvez encore inscrire vos heures DIF (jusqu’à {hours} h) jusqu’au "
                    "{day}, avec l’attestation de votre ancien employeur.",
        "dif_closed": "L’inscription des heures DIF est close depuis le {day}.",
        "hours_to_euros": "Le {day}, vos droits en heures seront convertis en euros, à {rate} "
                          "par heure pour le CPF.",
        "c2p_have": "Vous avez {points} sur votre compte prévention (C2P). Vous pouvez les "
                    "utiliser :",
        "c2p_training": "pour une formation : {value} par point ;",
        "c2p_part_time": "pour passer à temps partiel : {points} points pour {months} mois ;",
        "c2p_retirement": "pour partir plus tôt à la retraite : {points} points par trimestre, "
                          "à partir de {age} ans, {max} points au plus ;",
        "c2p_reconversion": "pour une reconversion professionnelle.",
        "no_option": "Aucune option particulière cette année.",
        "footer": "Relevé {year} — {person} — page {page}",
        "kind_accrual": "Acquisition de l’année {year}",
        "kind_regularisation": "Régularisation de l’année {year}",
        "kind_dif_registration": "Heures DIF inscrites",
        "kind_dif_correction": "Correction des heures DIF",
        "kind_cec_credit": "Engagement citoyen",
        "kind_cec_regularisation": "Régularisation engagement citoyen",
        "kind_topup_grant": "Abondement {grant}",
        "kind_c2p_acquired": "Points de prévention",
        "kind_c2p_used": "Points de prévention utilisés",
        "kind_training_debit": "Formation {order}",
        "kind_training_refund": "Remboursement de la formation {order}",
        "kind_expired": "Abondement {grant} expiré",
        "kind_withdrawn": "Abondement {grant} retiré",
        "short_cpf": "CPF",
        "short_dif": "DIF",
        "short_cec": "CEC",
        "short_topups": "Abondements",
        "short_c2p": "C2P",
        "on_day": "Le",
        "line": "Opération",
        "right": "Droit",
        "amount": "Montant",
    },
    "en": {
        "title": "Yearly statement of your rights {year}",
        "subtitle": "Compte personnel d’activité — as of {day}",
        "person_key": "Person reference (key)",
        "identifier": "Identifier (NIR or NIA)",
        "issued": "Issued on {day}",
        "rights": "Your rights on {day}",
        "no_pending": "No year is waiting to be credited.",
        "pending_line": "Year {year} not credited yet: {amount} expected.",
        "credited": "What was credited in {year}",
        "credited_none": "Nothing was credited in {year}.",
        "why": "Why",
        "used": "What was used in {year}",
        "used_none": "Nothing was used in {year}.",
        "held_now": "Held on {day} for ordered trainings: {amount}.",
        "converted": "Conversion on {day}: {memo}.",
        "expiring": "Top-ups expiring by {day}",
        "expiring_none": "No top-up expires by {day}.",
        "expiring_line": "{grant} ({funder}): {amount} left, expires on {on}{refund}.",
        "expiring_refund": "; the unused part returns to the funder",
        "options": "Your options",
        "dif_have": "Your transferred DIF hours are part of your rights: {amount}, used like "
                    "your CPF rights.",
        "dif_open": "You can still register your DIF hours (up to {hours} h) until {day}, with "
                    "your former employer's certificate.",
        "dif_closed": "DIF hours registration closed on {day}.",
        "hours_to_euros": "On {day}, your rights in hours will be converted to euros, at {rate} "
                          "an hour for the CPF.",
        "c2p_have": "You have {points} on your prevention account (C2P). You can use them:",
        "c2p_training": "for a training: {value} a point;",
        "c2p_part_time": "to work part time: {points} points for {months} months;",
        "c2p_retirement": "to retire earlier: {points} points a quarter, from age {age}, "
                          "{max} points at most;",
        "c2p_reconversion": "for a career change.",
        "no_option": "No particular option this year.",
        "footer": "Statement {year} — {person} — page {page}",
        "kind_accrual": "Accrual for {year}",
        "kind_regularisation": "Regularisation of {year}",
        "kind_dif_registration": "DIF hours registered",
        "kind_dif_correction": "DIF hours corrected",
        "kind_cec_credit": "Civic engagement",
        "kind_cec_regularisation": "Civic engagement regularised",
        "kind_topup_grant": "Top-up {grant}",
        "kind_c2p_acquired": "Prevention points",
        "kind_c2p_used": "Prevention points used",
        "kind_training_debit": "Training {order}",
        "kind_training_refund": "Refund of training {order}",
        "kind_expired": "Top-up {grant} expired",
        "kind_withdrawn": "Top-up {grant} withdrawn",
        "short_cpf": "CPF",
        "short_dif": "DIF",
        "short_cec": "CEC",
        "short_topups": "Top-ups",
        "short_c2p": "C2P",
        "on_day": "On",
        "line": "Operation",
        "right": "Right",
        "amount": "Amount",
    },
}
LANGUAGES = tuple(STATEMENT_WORDS)
DEFAULT = "fr"


def words(language: str) -> Words:
    """The web pages' words and formats, with the statements' words."""
    chosen = Words(language)
    chosen.table = {**WORDS[language], **STATEMENT_WORDS[language]}
    return chosen
