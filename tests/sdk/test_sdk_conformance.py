"""The official StreamSets SDK (streamsets==7.0.2), unmodified, against the Control Hub emulator.

Performs every operation of the SDK's API-credentials documentation (shared/seeds/sdk-api-credentials.txt)
with the method names SDK 7.0.2 really has (controlhub-api.md §7 "Documentation inconsistencies"):
create for yourself and for another user, list, get by name and by credential ID, regenerate, rename,
deactivate, activate, delete one and several. A credential "works" when a ControlHub session can be
built with it, which calls currentUser like the seed curl example.

Token comparisons go through local booleans so that a failing assertion never prints a token.
"""

import threading
import uuid
import warnings

import pytest
import requests
from streamsets.sdk import ControlHub


def connect(emulator, credential_id, token):
    """Builds a ControlHub session and waits for its background engine listings (§5 calls 15-16), so
    that a credential revoked right afterwards does not fail them in a stray thread."""
    sch = ControlHub(credential_id=credential_id, token=token, aster_url=emulator.url)
    for thread in threading.enumerate():
        if '_call_data_collectors' in thread.name:
            thread.join(timeout=30)
    return sch


def works(emulator, credential, token=None):
    """Whether a ControlHub session can be built with this credential's ID and token."""
    credential_id = getattr(credential, 'credential_id', credential)
    token = token or credential.auth_token
    try:
        connect(emulator, credential_id, token)
        return True
    except requests.exceptions.HTTPError as error:
        assert error.response is not None and error.response.status_code == 401, 'expected 401 SSO_01'
        return False


def unique(prefix):
    return f'{prefix} {uuid.uuid4().hex[:8]}'


def add(sch, cleanup, name, user_id=None):
    credential = sch.get_api_credential_builder().build(name=name, user_id=user_id)
    sch.add_api_credential(credential)
    cleanup.append(credential)
    return credential


def test_control_hub_initializes_completely_against_the_emulator(emulator):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        sch = connect(emulator, emulator.admin_credential_id, emulator.admin_token)
    assert sch.organization == emulator.org_id
    assert sch.server_url == emulator.url
    assert 'org-admin' in sch._roles
    assert not [w for w in caught if 'failed to initialize' in str(w.message)]
    assert sch.version.startswith('emulator-')


def test_seed_doc_plural_method_names_do_not_exist_in_sdk_7_0_2(sch):
    for documented in ('add_api_credentials', 'activate_api_credentials', 'deactivate_api_credentials'):
        assert not hasattr(sch, documented)
    for real in ('add_api_credential', 'activate_api_credential', 'deactivate_api_credential',
                 'delete_api_credentials', 'regenerate_api_credential_auth_token', 'rename_api_credential'):
        assert callable(getattr(sch, real))


def test_create_credentials_for_yourself(emulator, sch, cleanup):
    credential = sch.get_api_credential_builder().build(name='Some Credential Name')
    assert credential.credential_id is None and credential.auth_token is None
    sch.add_api_credential(credential)
    cleanup.append(credential)
    issued = bool(credential.credential_id) and bool(credential.auth_token)
    assert issued, 'add_api_credential must fill credential_id and auth_token'
    assert credential.active is True
    assert credential.created_for == emulator.admin_user_id
    assert credential.created_by == emulator.admin_user_id
    assert works(emulator, credential)


def test_create_credentials_for_another_user(emulator, sch, cleanup):
    email = f'elaine-{uuid.uuid4().hex[:6]}@example.com'
    user_id = emulator.create_user(email, 'Elaine Benes', roles=['jobrunner:operator'], service_account=True)
    user = sch.users.get(id=user_id)
    assert user.email_address == email and user.display_name == 'Elaine Benes'
    credential = add(sch, cleanup, 'Credentials for Elaine', user_id=user.id)
    assert credential.created_for == user.id
    assert credential.created_by == emulator.admin_user_id
    elaine = connect(emulator, credential.credential_id, credential.auth_token)
    assert elaine.api_client.get_current_user().response.json()['email'] == email
    assert 'org-admin' not in elaine._roles


def test_listed_credentials_never_carry_a_token(emulator, sch, cleanup):
    credential = add(sch, cleanup, unique('listed'))
    listed = list(sch.api_credentials)
    assert credential.credential_id in {c.credential_id for c in listed}
    assert emulator.admin_credential_id in {c.credential_id for c in listed}
    assert all(c.auth_token is None for c in listed)


def test_get_credentials_by_name_and_by_credential_id(sch, cleanup):
    name = unique('regenerate every 2 weeks')
    credential = add(sch, cleanup, name)
    by_name = sch.api_credentials.get(name=name)
    by_id = sch.api_credentials.get(credential_id=credential.credential_id)
    assert by_name.credential_id == by_id.credential_id == credential.credential_id
    assert by_id.name == name and by_id.active is True


def test_regenerate_keeps_the_id_and_issues_a_new_working_token(emulator, sch, cleanup):
    name = unique('lost credentials')
    created = add(sch, cleanup, name)
    old_token = created.auth_token
    lost_credentials = sch.api_credentials.get(name=name)
    sch.regenerate_api_credential_auth_token(lost_credentials)
    assert lost_credentials.credential_id == created.credential_id
    assert lost_credentials.name == name
    rotated = bool(lost_credentials.auth_token) and lost_credentials.auth_token != old_token
    assert rotated, 'regeneration must return a new token'
    assert works(emulator, lost_credentials)
    with pytest.raises(requests.exceptions.HTTPError):
        connect(emulator, created.credential_id, old_token)


def test_rename_changes_only_the_name(emulator, sch, cleanup):
    created = add(sch, cleanup, 'Stefani Joanne Angelina Germanotta')
    name_change_credentials = sch.api_credentials.get(credential_id=created.credential_id)
    name_change_credentials.name = 'Lady Gaga'
    sch.rename_api_credential(name_change_credentials)
    reread = sch.api_credentials.get(credential_id=created.credential_id)
    assert reread.name == 'Lady Gaga' and reread.active is True
    assert works(emulator, created), 'renaming keeps the token'


def test_deactivate_then_activate(emulator, sch, cleanup):
    created = add(sch, cleanup, unique('toggle'))
    credentials = sch.api_credentials.get(credential_id=created.credential_id)
    assert credentials.active is True
    sch.deactivate_api_credential(credentials)
    assert credentials.active is False
    assert sch.api_credentials.get(credential_id=created.credential_id).active is False
    with pytest.raises(requests.exceptions.HTTPError):
        connect(emulator, created.credential_id, created.auth_token)
    sch.activate_api_credential(credentials)
    assert credentials.active is True
    assert works(emulator, created)


def test_delete_one_credential(emulator, sch, cleanup):
    name = unique('old credential')
    created = add(sch, cleanup, name)
    credential_to_be_deleted = sch.api_credentials.get(name=name)
    sch.delete_api_credentials(credential_to_be_deleted)
    assert created.credential_id not in {c.credential_id for c in sch.api_credentials}
    assert not works(emulator, created)


def test_delete_several_credentials_at_once(emulator, sch, cleanup):
    first = add(sch, cleanup, unique('First'))
    second = add(sch, cleanup, unique('Second'))
    first_credential_to_be_deleted = sch.api_credentials.get(name=first.name)
    second_credential_to_be_deleted = sch.api_credentials.get(name=second.name)
    sch.delete_api_credentials(first_credential_to_be_deleted, second_credential_to_be_deleted)
    remaining = {c.credential_id for c in sch.api_credentials}
    assert first.credential_id not in remaining and second.credential_id not in remaining


def test_bringing_it_all_together(emulator, sch, cleanup):
    """The seed document's closing script, step by step (singular method names of SDK 7.0.2)."""
    credential_builder = sch.get_api_credential_builder()
    user_id = emulator.create_user(f'elaine-{uuid.uuid4().hex[:6]}@example.com', 'Elaine Benes', service_account=True)
    user = sch.users.get(id=user_id)
    credential = credential_builder.build(name='Credentials for Elaine', user_id=user.id)
    sch.add_api_credential(credential)
    cleanup.append(credential)
    issued = bool(credential.credential_id) and bool(credential.auth_token)
    assert issued, 'add_api_credential must fill credential_id and auth_token'
    first_token = credential.auth_token
    emulator.admin('PUT', '/settings', {'adminsMayRegenerateForOthers': True})
    try:
        sch.regenerate_api_credential_auth_token(credential)
    finally:
        emulator.admin('PUT', '/settings', {'adminsMayRegenerateForOthers': False})
    rotated = credential.auth_token != first_token
    assert rotated, 'regeneration must return a new token'
    # Later update responses carry authToken null (the token is shown only once), so keep it now.
    current_token = credential.auth_token
    sch.deactivate_api_credential(credential)
    assert credential.active is False
    sch.activate_api_credential(credential)
    assert credential.active is True
    credential.name = 'Elaine Benes'
    sch.rename_api_credential(credential)
    assert credential.name == 'Elaine Benes'
    assert credential.auth_token is None
    assert works(emulator, credential.credential_id, current_token)
    sch.delete_api_credentials(credential)
    assert not works(emulator, credential.credential_id, current_token)


def test_regenerating_another_users_credential_is_refused_by_default(emulator, sch, cleanup):
    user_id = emulator.create_user(f'george-{uuid.uuid4().hex[:6]}@example.com', 'George', service_account=True)
    credential = add(sch, cleanup, 'for george', user_id=user_id)
    with pytest.raises(requests.exceptions.HTTPError) as refused:
        sch.regenerate_api_credential_auth_token(credential)
    assert refused.value.response.status_code == 403
    assert 'SECURITY_REGENERATE_FOR_OTHERS_FORBIDDEN' in str(refused.value)
    assert works(emulator, credential)
