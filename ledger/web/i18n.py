"""French and English: the language a request asks for, the pages' words, and how numbers,
amounts and dates are written in each."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

LANGUAGES = ("en", "fr")
DEFAULT = "en"
_MONTHS = {
    "en": ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"),
    "fr": ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
           "septembre", "octobre", "novembre", "décembre"),
}
NARROW_NO_BREAK_SPACE = "\u202f"
NO_BREAK_SPACE = "\u00a0"


def choose(accept_language: str | None, override: str | None = None) -> str:
    """`override` (a `lang` query parameter) when it names a language we have; else the
    Accept-Language entry of highest weight among ours (the first on a tie); else English."""
    if override in LANGUAGES:
        return str(override)
    best, best_weight = DEFAULT, 0.0
    for position, entry in enumerate((accept_language or "").split(",")):
        tag, _, parameters = entry.strip().partition(";")
        language = tag.strip().lower().split("-")[0]
        weight = _weight(parameters)
        if language in LANGUAGES and weight > best_weight and position < 64:
            best, best_weight = language, weight
    return best


def _weight(parameters: str) -> float:
    for parameter in parameters.split(";"):
        name, _, value = parameter.strip().partition("=")
        if name.strip() == "q":
            try:
                return max(0.0, min(1.0, float(value)))
            except ValueError:
                return 0.0
    return 1.0


class Words:
    """The pages' words in one language: `words("key", name=value)`."""

    def __init__(self, language: str) -> None:
        self.language = language
        self.table = WORDS[language]

    def __call__(self, key: str, **values: Any) -> str:
        text = self.table.get(key) or WORDS[DEFAULT].get(key) or key
        return text.format(**values) if values else text

    # Numbers.

    def number(self, value: Any, places: int = 2) -> str:
        """`value` (a decimal string as the API writes it, or an int) in this language."""
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            return str(value)
        text = f"{number:,.{places}f}"
        if self.language == "fr":
            text = text.replace(",", NARROW_NO_BREAK_SPACE).replace(".", ",")
        return text.replace("-", "\u2212")

    def amount(self, value: Any, unit: str | None) -> str:
        """An amount with its unit: EUR, hours or points."""
        if unit == "points":
            return f"{self.number(value, 0)}{NO_BREAK_SPACE}{self('unit_points')}"
        if unit == "EUR":
            return f"{self.number(value)}{NO_BREAK_SPACE}€"
        if unit == "hours":
            return f"{self.number(value)}{NO_BREAK_SPACE}h"
        return self.number(value)

    def unit(self, unit: str | None) -> str:
        return {"EUR": self("unit_eur"), "hours": self("unit_hours"),
                "points": self("unit_points")}.get(unit or "", unit or "")

    def date(self, value: Any) -> str:
        """A date (ISO text or date) written out: 31 December 2025 / 31 décembre 2025."""
        if not value:
            return "—"
        try:
            day = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])
        except ValueError:
            return str(value)
        month = _MONTHS[self.language][day.month - 1]
        first = "1er" if self.language == "fr" and day.day == 1 else str(day.day)
        return f"{first} {month} {day.year}"

    def percent(self, ratio: Any) -> str:
        try:
            return self.number(Decimal(str(ratio)) * 100, 1) + NO_BREAK_SPACE + "%"
        except InvalidOperation:
            return str(ratio)


WORDS: Mapping[str, Mapping[str, str]] = {
    "en": {
        "site": "CPA ledger",
        "skip": "Skip to content",
        "language": "Language",
        "home": "Home",
        "audit": "Audit",
        "api_docs": "API documentation",
        "log_in": "Log in",
        "log_out": "Log out",
        "token": "Access token",
        "token_help": "The bearer token you were given for the API (a read token for a "
                      "person's page, an audit token for the auditor's). It is kept in a "
                      "cookie that scripts cannot read, for this site only, until you log out "
                      "or close the browser.",
        "login_title": "Log in",
        "login_needed": "Log in to see this page",
        "login_needed_detail": "This page shows a person's rights: it needs an access token.",
        "login_failed": "This token is not valid.",
        "login_blocked": "Too many failed attempts from your address: try again in "
                         "{minutes} min. Until then no token is checked, not even a valid one.",
        "logged_out": "You are logged out.",
        "forbidden_title": "Not allowed",
        "problem_title": "This page cannot be shown",
        "unavailable_title": "The ledger does not answer",
        "unavailable_detail": "The store does not answer right now; try again in a moment.",
        "not_found_title": "Nothing here",
        "person": "Person identifier (NIR or NIA, 15 characters)",
        "person_help": "13 characters and the 2-digit key, e.g. 175051500100289.",
        "show": "Show",
        "find_person": "A person's rights",
        "find_person_help": "Balances, career, accruals, orders and top-ups, as an advisor "
                            "sees them.",
        "person_title": "Rights of {person}",
        "as_of": "As of",
        "known_at": "As known at",
        "known_at_help": "optional, e.g. 2025-07-01T00:00:00+02:00",
        "now": "now",
        "status": "Status",
        "status_open": "open",
        "status_frozen": "frozen (retired)",
        "status_closed": "closed (deceased)",
        "in_arrears": "The CPF balance is negative (in arrears): later credits repay it first.",
        "balances": "Balances",
        "bucket": "Right",
        "balance": "Balance",
        "unit": "Unit",
        "ceiling": "Ceiling",
        "bucket_cpf": "CPF (training account)",
        "bucket_dif": "DIF (transferred hours)",
        "bucket_cec": "CEC (civic engagement)",
        "bucket_topups": "Top-ups (abondements)",
        "bucket_c2p": "C2P (prevention points)",
        "bucket_cpf_public": "CPF of public agents (hours)",
        "bucket_held": "held",
        "held_total": "Held for orders not yet started",
        "available": "Available",
        "unit_eur": "euros",
        "unit_hours": "hours",
        "unit_points": "points",
        "pending": "Years not credited yet",
        "pending_none": "No year is waiting to be credited.",
        "year": "Year",
        "expected": "Expected credit",
        "holds": "Holds",
        "holds_none": "Nothing is held.",
        "order": "Order",
        "held": "Held",
        "chart": "Balance over time",
        "chart_caption": "Available rights at 31 December of each year and on {day}, in {unit}.",
        "chart_caption_years": "Available rights at 31 December of each year, in {unit}.",
        "chart_table": "The chart's figures",
        "date": "Date",
        "career": "Career",
        "career_none": "No employment or status is recorded.",
        "period": "Period",
        "what": "What",
        "details": "Details",
        "fact_status": "State",
        "active": "in force",
        "employment.declared": "Employment",
        "self_employment.declared": "Self-employment",
        "jobseeker.registered": "Jobseeker",
        "disability.recognised": "Disability recognised",
        "qualification.declared": "Qualification",
        "civic_engagement.declared": "Civic engagement",
        "hardship.exposure.declared": "Exposure to hardship factors",
        "dif.registered": "DIF hours registered",
        "retired": "Retired",
        "deceased": "Deceased",
        "employer": "employer {employer}",
        "hours_of": "{hours} h worked of {reference} h",
        "regime": "regime {regime}",
        "months_active": "{months} months active",
        "low_qualified": "low qualified",
        "not_low_qualified": "not low qualified",
        "factors": "factors: {factors}",
        "quarters": "quarters: {quarters}",
        "activity": "activity {activity}",
        "withdrawn_facts": "Corrected or retracted declarations",
        "accruals": "Yearly accruals explained",
        "accruals_none": "No year to explain yet.",
        "accrual_closed": "Credited",
        "accrual_pending": "Not closed yet",
        "why_worked": "{hours} hours worked, {ratio} of a full-time year.",
        "why_self": "{months} months of self-employment.",
        "why_profile_standard": "Standard profile.",
        "why_profile_enhanced": "Enhanced profile ({reasons}).",
        "why_rate_hours": "Rate {rate} h a year ({band} balance band, threshold {threshold} h).",
        "band_low": "low",
        "band_high": "high",
        "why_rate_eur": "Full amount {amount} for at least {ratio} of a full-time year.",
        "why_entitled": "Entitled to {entitled}.",
        "why_credited": "Credited {credited} on {on}.",
        "why_limited": "Limited by the ceiling of {ceiling} (balance then {balance}).",
        "why_pending": "If the year closed on {on}: {credited} would be credited.",
        "why_regularised": "Settled {count} times (regularisations after late declarations).",
        "reason_esat": "ESAT worker",
        "reason_low_qualified": "low qualified",
        "reason_boeth": "disability (BOETH)",
        "orders": "Training orders",
        "orders_none": "No training was ordered.",
        "certification": "Certification",
        "ordered_on": "Ordered on",
        "price": "Price",
        "draws": "Paid from",
        "copay": "Co-payment",
        "out_of_pocket": "Paid by the person",
        "refunded": "Refunded",
        "order_held": "ordered, rights held",
        "order_entered": "started",
        "order_cancelled": "cancelled",
        "order_released": "released",
        "topups": "Top-ups",
        "topups_none": "No top-up was granted.",
        "grant": "Top-up",
        "funder": "Funder",
        "granted_on": "Granted on",
        "amount": "Amount",
        "expires_on": "Expires on",
        "never": "never",
        "grant_active": "active",
        "grant_expired": "expired",
        "grant_withdrawn": "withdrawn",
        "earmarked": "only for {certifications}",
        "refundable": "unused part returns to the funder",
        "audit_title": "Audit",
        "audit_intro": "Every figure comes from recorded events. Check the chain, look up any "
                       "message's outcome, and replay the ledger as it was known at a time.",
        "audit_person": "A person's events",
        "audit_person_title": "Events of {person}",
        "events_none": "No event is recorded for this person.",
        "version": "Version",
        "topic": "Event",
        "event_hash": "Event hash",
        "person_link": "Person chain",
        "link": "Log chain",
        "notification": "Position",
        "stored_state": "Stored bytes",
        "next_page": "Next events",
        "chain_explained": "Each event hashes as SHA-256(topic, newline, stored bytes). The "
                           "person chain links each event to the one before it: "
                           "link = SHA-256(previous link, event hash), from a genesis value. "
                           "Recompute it from the stored bytes to check nothing was changed.",
        "verify": "Verify the store",
        "verify_help": "Recomputes the hash chain over every stored event (and, on "
                       "PostgreSQL, compares the read models with a fresh replay).",
        "verify_ok": "Verified: no difference.",
        "verify_failed": "Difference found",
        "checked_events": "Events checked",
        "head_link": "Chain head",
        "first_difference": "First difference",
        "message": "A message's outcome",
        "source": "Source",
        "message_id": "Message id",
        "outcome": "Outcome",
        "reason": "Reason",
        "detail": "Detail",
        "type": "Type",
        "recorded_at": "Recorded at",
        "channel": "Channel",
        "repeats": "Received again",
        "replay": "Replay as known at a time",
        "replay_help": "A balance as it was known at a time answers from the events recorded "
                       "until then:",
        "replay_cli": "A whole separate store as it was known then, for the same commands:",
        "replay_api": "Or through the API:",
        "see_balance": "See the balance as known then",
        "when": "Time (RFC 3339 with offset)",
    },
    "fr": {
        "site": "Registre CPA",
        "skip": "Aller au contenu",
        "language": "Langue",
        "home": "Accueil",
        "audit": "Audit",
        "api_docs": "Documentation de l’API",
        "log_in": "Se connecter",
        "log_out": "Se déconnecter",
        "token": "Jeton d’accès",
        "token_help": "Le jeton fourni pour l’API (un jeton de lecture pour la page d’une "
                      "personne, un jeton d’audit pour celle de l’auditeur). Il est gardé dans "
                      "un cookie illisible par les scripts, pour ce site seulement, jusqu’à la "
                      "déconnexion ou la fermeture du navigateur.",
        "login_title": "Connexion",
        "login_needed": "Connectez-vous pour voir cette page",
        "login_needed_detail": "Cette page montre les droits d’une personne : il faut un jeton "
                               "d’accès.",
        "login_failed": "Ce jeton n’est pas valide.",
        "login_blocked": "Trop d’essais infructueux depuis votre adresse : réessayez dans "
                         "{minutes} min. D’ici là, aucun jeton n’est vérifié, même valide.",
        "logged_out": "Vous êtes déconnecté.",
        "forbidden_title": "Accès refusé",
        "problem_title": "Cette page ne peut pas être affichée",
        "unavailable_title": "Le registre ne répond pas",
        "unavailable_detail": "La base ne répond pas pour l’instant ; réessayez dans un moment.",
        "not_found_title": "Rien ici",
        "person": "Identifiant de la personne (NIR ou NIA, 15 caractères)",
        "person_help": "13 caractères et la clé à 2 chiffres, par ex. 175051500100289.",
        "show": "Afficher",
        "find_person": "Les droits d’une personne",
        "find_person_help": "Soldes, parcours, acquisitions, commandes et abondements, tels "
                            "qu’un conseiller les voit.",
        "person_title": "Droits de {person}",
        "as_of": "Au",
        "known_at": "Tels que connus le",
        "known_at_help": "facultatif, par ex. 2025-07-01T00:00:00+02:00",
        "now": "maintenant",
        "status": "Situation",
        "status_open": "ouvert",
        "status_frozen": "figé (retraite)",
        "status_closed": "clos (décès)",
        "in_arrears": "Le solde CPF est négatif (dette) : les crédits suivants le "
                      "remboursent d’abord.",
        "balances": "Soldes",
        "bucket": "Droit",
        "balance": "Solde",
        "unit": "Unité",
        "ceiling": "Plafond",
        "bucket_cpf": "CPF (compte formation)",
        "bucket_dif": "DIF (heures transférées)",
        "bucket_cec": "CEC (engagement citoyen)",
        "bucket_topups": "Abondements",
        "bucket_c2p": "C2P (points prévention)",
        "bucket_cpf_public": "CPF des agents publics (heures)",
        "bucket_held": "bloqué",
        "held_total": "Bloqué pour des formations pas encore commencées",
        "available": "Disponible",
        "unit_eur": "euros",
        "unit_hours": "heures",
        "unit_points": "points",
        "pending": "Années pas encore créditées",
        "pending_none": "Aucune année n’attend d’être créditée.",
        "year": "Année",
        "expected": "Crédit attendu",
        "holds": "Montants bloqués",
        "holds_none": "Rien n’est bloqué.",
        "order": "Commande",
        "held": "Bloqué",
        "chart": "Évolution du solde",
        "chart_caption": "Droits disponibles au 31 décembre de chaque année et au {day}, "
                         "en {unit}.",
        "chart_caption_years": "Droits disponibles au 31 décembre de chaque année, en {unit}.",
        "chart_table": "Les chiffres du graphique",
        "date": "Date",
        "career": "Parcours",
        "career_none": "Aucun emploi ni statut enregistré.",
        "period": "Période",
        "what": "Quoi",
        "details": "Détails",
        "fact_status": "État",
        "active": "en vigueur",
        "employment.declared": "Emploi salarié",
        "self_employment.declared": "Activité indépendante",
        "jobseeker.registered": "Demandeur d’emploi",
        "disability.recognised": "Handicap reconnu",
        "qualification.declared": "Qualification",
        "civic_engagement.declared": "Engagement citoyen",
        "hardship.exposure.declared": "Exposition à des facteurs de risques",
        "dif.registered": "Heures DIF inscrites",
        "retired": "Retraite",
        "deceased": "Décès",
        "employer": "employeur {employer}",
        "hours_of": "{hours} h travaillées sur {reference} h",
        "regime": "régime {regime}",
        "months_active": "{months} mois d’activité",
        "low_qualified": "peu qualifié",
        "not_low_qualified": "qualifié",
        "factors": "facteurs : {factors}",
        "quarters": "trimestres : {quarters}",
        "activity": "activité {activity}",
        "withdrawn_facts": "Déclarations corrigées ou retirées",
        "accruals": "Acquisitions annuelles expliquées",
        "accruals_none": "Aucune année à expliquer pour l’instant.",
        "accrual_closed": "Crédité",
        "accrual_pending": "Pas encore clôturée",
        "why_worked": "{hours} heures travaillées, soit {ratio} d’une année à temps plein.",
        "why_self": "{months} mois d’activité indépendante.",
        "why_profile_standard": "Profil standard.",
        "why_profile_enhanced": "Profil majoré ({reasons}).",
        "why_rate_hours": "Taux de {rate} h par an (tranche de solde {band}, seuil {threshold} h).",
        "band_low": "basse",
        "band_high": "haute",
        "why_rate_eur": "Montant plein de {amount} à partir de {ratio} d’une année à temps "
                        "plein.",
        "why_entitled": "Droit acquis : {entitled}.",
        "why_credited": "Crédité {credited} le {on}.",
        "why_limited": "Limité par le plafond de {ceiling} (solde d’alors {balance}).",
        "why_pending": "Si l’année était clôturée le {on} : {credited} serait crédité.",
        "why_regularised": "Réglée {count} fois (régularisations après des déclarations "
                           "tardives).",
        "reason_esat": "travailleur en ESAT",
        "reason_low_qualified": "peu qualifié",
        "reason_boeth": "handicap (BOETH)",
        "orders": "Commandes de formation",
        "orders_none": "Aucune formation commandée.",
        "certification": "Certification",
        "ordered_on": "Commandée le",
        "price": "Prix",
        "draws": "Payée par",
        "copay": "Participation",
        "out_of_pocket": "Reste à charge",
        "refunded": "Remboursé",
        "order_held": "commandée, droits bloqués",
        "order_entered": "commencée",
        "order_cancelled": "annulée",
        "order_released": "libérée",
        "topups": "Abondements",
        "topups_none": "Aucun abondement accordé.",
        "grant": "Abondement",
        "funder": "Financeur",
        "granted_on": "Accordé le",
        "amount": "Montant",
        "expires_on": "Expire le",
        "never": "jamais",
        "grant_active": "actif",
        "grant_expired": "expiré",
        "grant_withdrawn": "retiré",
        "earmarked": "réservé à {certifications}",
        "refundable": "la part non utilisée revient au financeur",
        "audit_title": "Audit",
        "audit_intro": "Chaque chiffre vient des événements enregistrés. Vérifiez la chaîne, "
                       "retrouvez le sort de tout message, rejouez le registre tel qu’il était "
                       "connu à une date.",
        "audit_person": "Les événements d’une personne",
        "audit_person_title": "Événements de {person}",
        "events_none": "Aucun événement enregistré pour cette personne.",
        "version": "Version",
        "topic": "Événement",
        "event_hash": "Empreinte",
        "person_link": "Chaîne de la personne",
        "link": "Chaîne du journal",
        "notification": "Position",
        "stored_state": "Octets enregistrés",
        "next_page": "Événements suivants",
        "chain_explained": "Chaque événement a pour empreinte SHA-256(sujet, saut de ligne, "
                           "octets enregistrés). La chaîne de la personne lie chaque événement "
                           "au précédent : maillon = SHA-256(maillon précédent, empreinte), "
                           "depuis une valeur initiale. Recalculez-la depuis les octets "
                           "enregistrés pour vérifier que rien n’a changé.",
        "verify": "Vérifier la base",
        "verify_help": "Recalcule la chaîne d’empreintes sur tous les événements (et, sur "
                       "PostgreSQL, compare les modèles de lecture à un rejeu complet).",
        "verify_ok": "Vérifié : aucune différence.",
        "verify_failed": "Différence trouvée",
        "checked_events": "Événements vérifiés",
        "head_link": "Tête de chaîne",
        "first_difference": "Première différence",
        "message": "Le sort d’un message",
        "source": "Source",
        "message_id": "Identifiant du message",
        "outcome": "Sort",
        "reason": "Motif",
        "detail": "Détail",
        "type": "Type",
        "recorded_at": "Enregistré le",
        "channel": "Canal",
        "repeats": "Reçu de nouveau",
        "replay": "Rejouer tel que connu à une date",
        "replay_help": "Un solde tel qu’il était connu à une date se calcule avec les "
                       "événements enregistrés jusque-là :",
        "replay_cli": "Une base séparée entière, telle que connue alors, pour les mêmes "
                      "commandes :",
        "replay_api": "Ou par l’API :",
        "see_balance": "Voir le solde tel que connu alors",
        "when": "Instant (RFC 3339 avec décalage)",
    },
}
