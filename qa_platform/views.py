from django.http import HttpResponse


def database_view(request):
    return HttpResponse("FaceQA")
